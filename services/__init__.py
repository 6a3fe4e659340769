"""The two services under test and what they share."""
