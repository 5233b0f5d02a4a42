"""Scores of generated subjects the way DreamBench reports them (DINO and CLIP-I similarity to the references,
CLIP-T similarity to the instruction), a copy-paste score, and an evaluation sweep over a dataset and seeds, with
the embedding models read from folders through transformers."""
