"""The spam scanner: normalising text, rules admins edit, what moderators taught it, and scoring."""
