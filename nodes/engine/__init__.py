"""ComfyUI engine code the nodes stand on: the stage guider and its attention weighting, loaded models under
ComfyUI's model management, and joint encoding through ComfyUI's own text encoder. No node classes here."""
