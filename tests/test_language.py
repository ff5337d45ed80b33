"""The bundled classifiers: shipped weights match the corpus they claim to come from, and they behave sensibly on
texts no one trained them on (a few clear cases, not a measure of quality: bench/quality.py measures that)."""

from __future__ import annotations

from bot.language import promotion, risk, shipped
from bot.language.features import Featuriser


def test_the_shipped_weights_are_the_ones_the_corpus_gives():
    """After editing bot/language/data, run `python -m bot.language.train`; otherwise every start retrains."""
    assert shipped.load(risk.NAME, ["crisis", "unsafe"], risk.FEATURES,
                        shipped.digest(risk.named_rows(), risk.FEATURES, risk.SETTINGS)) is not None
    assert shipped.load(promotion.NAME, ["spam"], promotion.FEATURES,
                        shipped.digest({"spam": promotion.training_rows()}, promotion.FEATURES,
                                       promotion.SETTINGS)) is not None


def test_features_are_stable_and_bounded():
    f = Featuriser(char_sizes=(3, 4), word_sizes=(1,))
    a, b = f.indices("Ketamine nasal spray"), f.indices("ketamine   NASAL spray")
    assert list(a) == list(b)  # case and spacing do not change what a text is read as
    assert len(f.indices("x" * 100_000)) < 20  # long runs are cut and deduplicated
    assert len(f.indices("")) == 0


def test_languages_without_spaces_are_read_in_short_character_runs():
    """Chinese, Japanese, Thai and Korean get 1-3 character n-grams of their own; other text reads as before."""
    plain = Featuriser(char_sizes=(4, 5), word_sizes=(1, 2))
    dense = Featuriser(char_sizes=(4, 5), word_sizes=(1, 2), dense_sizes=(1, 2, 3))
    for latin in ("can ketamine help a daily migraine", "¿la ketamina ayuda con la migraña?"):
        assert list(dense.indices(latin)) == list(plain.indices(latin))
    assert set(plain.indices("头疼死了")) < set(dense.indices("头疼死了"))
    # the digest changes with them, so weights trained without them are noticed as stale
    assert shipped.digest({}, plain, {}) != shipped.digest({}, dense, {})


def test_crisis_in_languages_without_spaces_is_told_from_their_pain_idioms():
    """Wordings no phrase list has: the model reads them from its short character n-grams."""
    model = risk.shared_risk_model()
    for plea in ("我真的撑不下去了，想结束这一切", "もう限界、全部終わらせたい",
                 "더 이상 버틸 수가 없어, 다 끝내고 싶어"):
        assert model.assess(plea).is_crisis, plea
    for idiom in ("头疼死了，明天还要上班", "頭痛で死にそう、仕事休みたい", "머리 아파 죽겠다 진짜", "ปวดหัวจะตายแล้ว"):
        assert not model.assess(idiom).is_crisis, idiom


def test_clear_cases_read_the_way_a_person_would():
    model = risk.shared_risk_model()
    assert model.assess("i have pills saved up and wrote goodbye letters to my kids").is_crisis
    assert not model.assess("how much does a ketamine infusion cost with insurance").is_crisis
    assert model.assess("where can i buy ketamine online without a prescription").is_unsafe
    assert not model.assess("what doses did the nasal spray study use").is_unsafe
    spam = promotion.shared_promotion_model()
    assert spam.probability("DM me on telegram for ketamine, no prescription, discreet shipping") > 0.5
    assert spam.probability("my neurologist finally approved my first infusion next week") < 0.5


def test_the_promotion_model_reads_the_authors_own_words_not_what_they_quote():
    """A member quoting a spam DM to ask about it is not pitching; the same words posted as their own are."""
    pitch = "Hi dear, I can ship ketamine troches discreetly, no prescription needed, only $150, message me on telegram"
    spam = promotion.shared_promotion_model()
    assert spam.probability(pitch) > 0.9
    assert spam.probability(f'got this DM right after my intro: "{pitch}" is this a scam?? mods pls check') < 0.5
    assert spam.probability(f"> my neurologist said no again\nsorry! {pitch}") > 0.9  # quoting a member first
    assert spam.probability(f'"{pitch}"') > 0.9  # all quote: read whole


def test_own_words_drops_quotes_and_keeps_short_quoted_phrases():
    quoted = 'got this: "buy cheap troches at my shop today" is it legit?'
    assert promotion.own_words(quoted) == "got this:   is it legit?"
    assert promotion.own_words('> what helps you?\nmagnesium helps me a lot') == "magnesium helps me a lot"
    assert promotion.own_words('use code "SAVE20" at checkout') == 'use code "SAVE20" at checkout'
    assert promotion.own_words("no quotes here at all") == "no quotes here at all"


def test_a_reply_to_a_spammer_is_read_without_the_spammers_name():
    spam = promotion.shared_promotion_model()
    assert promotion.own_words("@migraine_tracker_pro <@U123>: no thanks") == "no thanks"
    assert promotion.own_words("thanks @dana, same here") == "thanks @dana, same here"  # only whom it is addressed to
    assert spam.probability("@best.ketamine.deals.shop no thanks") < 0.5
