# Makes the repository root importable for tests and doctests, also from a git worktree.
