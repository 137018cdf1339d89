"""One evaluation end to end: the pipeline (task -> index -> search -> metrics -> results),
answer-match relevance, results folders, the leaderboard and the papers' values."""
