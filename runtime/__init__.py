"""The streaming runtime: sources, detector, tracker, lift stage, publisher, supervisor."""
