"""Accounts: sign up, log in/out, password change and the "Your sessions" page."""
