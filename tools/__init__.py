"""Tools of the product that are neither the pack nor its tests: the ComfyUI versions it runs on, a headless
server, workflows run from the command line, stand-in models, help pages and pictures. Nothing here imports
from the test suite."""
