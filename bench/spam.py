"""Spam scanner throughput on a realistic mixed stream, next to a floor of NFKC + one regex pass.

Run from the repo root: `python bench/spam.py [--messages N] [--seed S]`.
Times are CPU time of this process on one core (time.process_time), so other load on the machine distorts
them less. ratio_to_floor = scanner msgs/s / floor msgs/s (the floor does far less work, so it is < 1).
The last line is machine-readable: `spam msgs_per_s=<n> ratio_to_floor=<n>`.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.features.moderation.spam import ScanMessage, Scanner, SpamRules  # noqa: E402
from bot.language.promotion import shared_promotion_model  # noqa: E402

HAM = [
    "Day {n} of this attack. Rescue meds not touching it, going to try {drug} again.",
    "My neuro upped my {drug} to {dose} twice a day. Anyone else get tingly fingers?",
    "Each spray is {dose} of ketamine, I use 1 to {small} sprays depending on how bad it is.",
    "Started {drug} {dose} last month, {feeling} so far. Fingers crossed 🤞",
    "I had my ketamine infusion at {clinic} today. {feeling}, pain went from {small} to 2.",
    "Does anyone know if insurance covers {drug}? My copay is ${price} and I can't keep paying that.",
    "Infusions cost between $300 and $1,000 each at my place, insurance won't touch it.",
    "Honestly {drug} changed my life. Went from {n} migraine days a month to {small}.",
    "DM me if you want to talk, I've been through the same thing and it gets better ❤️",
    "Here's the study I mentioned: https://pubmed.ncbi.nlm.nih.gov/{pmid}/ small sample but promising.",
    "The AHS has a specialist finder: https://americanheadachesociety.org/resources/find-a-doctor",
    "Look up the {clinic} headache program, they were great with me.",
    "Anyone tried a compounding pharmacy for {drug}? Mine wants a new script every 30 days.",
    "Weather change again today and of course my head knows it before the forecast does 😩",
    "Thanks so much for sharing, {name}! Keep us posted!!",
    "{name}, did the nerve blocks help you? I'm scheduled for my first one on {weekday}.",
    "I'm at the end of my rope with daily headaches, nothing works anymore.",
    "Free tip: keep rescue meds in every bag you own. Saved me so many times.",
    "We have a Telegram support group for people in {city}, ask the mods for the link.",
    "Has anyone been to {clinic}? My PCP wants to refer me there.",
    "Mi neuróloga me recetó {drug}, {dose}. Os cuento cómo me va.",
    "Mon neurologue m'a prescrit du {drug}, quelqu'un a de l'expérience ?",
    "Ich nehme seit {small} Monaten {drug}, die Attacken sind deutlich seltener geworden.",
    "Good morning everyone, pain is a {small}/10 today which is a win 🎉",
    "Ice pack + dark room + {drug} is my combo. {feeling}.",
    "Vyepti was approved after my appeal! Took {n} days but we got there.",
    "Anyone else get aura without the headache? Happened {small} times this week.",
    "The Mayo Clinic article on rebound headaches: https://www.mayoclinic.org/diseases-conditions/chronic-daily-headaches",
    "Can I take {drug} with magnesium 400mg? My doctor said yes but the pharmacist wasn't sure.",
    "sorry for the rant, just needed to get it out. thank you all for being here",
    "{name} you're not alone, I went through {n} preventives before one worked.",
    "Is it normal to feel foggy the day after an infusion? Last time it lasted {small} days.",
    "Playlist that helps me during attacks: https://www.youtube.com/watch?v={vid}",
    "Botox round {small} done. Neck is stiff but the headache days are down.",
    "Happy to share my headache diary template, just message me.",
    "lol my cat sits on my head when I have a migraine, best ice pack",
]
SPAM = [
    "I found a product that finally worked, {product} is all natural with no side effects and they send a free "
    "trial bottle. Look them up!",
    "Ketamine for sale, discreet shipping worldwide, no prescription needed. Telegram @{handle}",
    "Earn ${price} per day from home with crypto, my forex mentor showed me how. WhatsApp +1 555 {phone}",
    "@everyone free nitro giveaway 🎁 claim here: https://dlscord-{handle}.xyz/claim",
    "Join our new server with daily giveaways! discord.gg/{handle}",
    "Miracle cure for migraines, order now at {handle}-relief.shop and use code SAVE20 for 20% off!",
    "Κetamine fοr sаle, dіscreet shipping, DM me to order",
    "N0 pr3scr1pt10n n33ded, k3tam1ne sh1pped d1scr33tly, t3l3gram @{handle}",
    "c a l l  m e on w h a t s a p p for pain pills, discreet delivery",
    "Cura milagrosa para la migraña, sin efectos secundarios. Escríbeme por WhatsApp +34 612 {phone}",
]
WORDS = {
    "drug": ["Aimovig", "Emgality", "Ajovy", "Nurtec", "Ubrelvy", "topiramate", "sumatriptan", "Qulipta", "Botox"],
    "dose": ["10mg", "25 mg", "50mg", "75 mg", "100mg", "2.5mg", "0.5 mg/kg", "140mg"],
    "feeling": ["no side effects", "a bit nauseous", "tired but ok", "pretty good", "mixed results"],
    "clinic": ["Jefferson University Hospital", "Mayo Clinic", "Cleveland Clinic", "UCSF", "Johns Hopkins"],
    "name": ["Maria", "Jules", "Tanya", "Sean", "Katie", "Amy", "Mel", "Obi"],
    "weekday": ["Monday", "Tuesday", "Thursday", "Friday"],
    "city": ["Spain", "Ohio", "Toronto", "Lyon", "Berlin"],
    "product": ["MigraClear", "HeadEase", "CalmHead", "NeuroPeace"],
}


def fill(template: str, rng: random.Random) -> str:
    def pick(m: re.Match[str]) -> str:
        key = m.group(1)
        if key in WORDS:
            return rng.choice(WORDS[key])
        return {
            "n": str(rng.randint(2, 28)),
            "small": str(rng.randint(1, 9)),
            "price": str(rng.choice([0, 25, 50, 85, 300, 450, 500])),
            "pmid": str(rng.randint(20_000_000, 39_999_999)),
            "vid": "".join(rng.choice("abcdefghijkXYZ0123456789_-") for _ in range(11)),
            "handle": "".join(rng.choice("abcdefghijklmnop") for _ in range(7)),
            "phone": f"{rng.randint(100, 999)} {rng.randint(1000, 9999)}",
        }[key]

    return re.sub(r"\{(\w+)\}", pick, template)


def stream(count: int, seed: int) -> tuple[list[ScanMessage], list[bool]]:
    """Messages in time order, and which of them are spam."""
    rng = random.Random(seed)
    channels = [f"discord:{c}" for c in ("general", "treatments", "ketamine", "vent", "wins", "research")] + [
        f"slack:{c}" for c in ("C-general", "C-meds", "C-support", "C-random")
    ]
    ham_authors = [f"discord:{i}" for i in range(2000)] + [f"slack:U{i}" for i in range(1000)]
    spammers = [f"discord:9{i:04d}" for i in range(60)]
    ts = 1_700_000_000.0
    out, labels = [], []
    for i in range(count):
        ts += rng.expovariate(1.5)
        labels.append(rng.random() < 0.05)
        if labels[-1]:
            author = rng.choice(spammers)
            text = fill(rng.choice(SPAM), rng)
            joined = ts - rng.uniform(60, 3 * 3600)
        else:
            author = rng.choice(ham_authors)
            text = fill(rng.choice(HAM), rng)
            joined = ts - rng.uniform(86_400, 86_400 * 900) if rng.random() < 0.8 else None
        out.append(ScanMessage(str(i), author, rng.choice(channels), text, ts, joined))
    return out, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    rules = SpamRules.load(ROOT / "rules" / "spam.yaml")
    messages, labels = stream(args.messages, args.seed)

    floor_re = re.compile(r"https?://\S+|[@#]\w+|\w+")
    started = time.process_time()
    for msg in messages:
        floor_re.findall(unicodedata.normalize("NFKC", msg.text))
    floor_s = time.process_time() - started

    scanner = Scanner(rules, language=shared_promotion_model().probability)
    started = time.process_time()
    verdicts = [scanner.scan(msg).flagged for msg in messages]
    scan_s = time.process_time() - started

    n = len(messages)
    rate, floor_rate = n / scan_s, n / floor_s
    spam = sum(labels)
    caught = sum(v and s for v, s in zip(verdicts, labels, strict=True))
    false_alarms = sum(v and not s for v, s in zip(verdicts, labels, strict=True))
    print(f"messages: {n}, spam {spam} ({spam / n:.1%}), flagged {sum(verdicts)}")
    print(f"stream quality: recall {caught / spam:.3f}, false-positive rate {false_alarms / (n - spam):.4f}")
    print(f"floor (NFKC + one regex pass): {floor_rate:,.0f} msgs/s")
    print(f"Scanner.scan:                  {rate:,.0f} msgs/s  ({scan_s / n * 1e6:.1f} us/msg)")
    print(f"ratio scan/floor: {rate / floor_rate:.3f}")
    print(f"spam msgs_per_s={rate:.0f} ratio_to_floor={rate / floor_rate:.3f}")


if __name__ == "__main__":
    main()
