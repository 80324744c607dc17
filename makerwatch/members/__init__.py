"""Members, their cards and training: the store, the member list's import and each
board's access list (docs/members.md)."""
