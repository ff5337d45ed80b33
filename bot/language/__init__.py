"""Understanding what members write: text features, small trained classifiers and sentence vectors, shared by the
features (FAQ safety routing, wellbeing, spam) and free of any platform."""
