"""``mire-eval demo``: the main job offline on the diagnostic task, and its summary."""
