"""The reference peer: the Channels tutorial's chat consumer, unchanged in spirit, on channels-redis' Pub/Sub layer."""
