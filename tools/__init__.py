"""Tools of the product that are neither the pack nor its tests: the ComfyUI versions it runs on."""
