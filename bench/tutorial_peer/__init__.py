"""The reference peer: the Channels tutorial's chat consumer, unchanged in spirit, on the core Redis layer."""
