"""Local fakes of the platforms' APIs, for end-to-end adapter tests that never reach the internet."""
