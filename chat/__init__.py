"""Chat: rooms, memberships, messages, direct messages, presence, typing and read state."""
