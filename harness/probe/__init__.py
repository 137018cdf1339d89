"""The text-dominance probe: query views and indices, attribution, and the pictures."""
