"""Network edges shared by gates and notifications."""
