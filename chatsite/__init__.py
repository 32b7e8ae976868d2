"""chatsite: live chat rooms and notifications on Django, Channels and Redis."""
