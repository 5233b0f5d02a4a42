"""The trained miniature: the whole Squeeze stack learnt on procedural subjects on a CPU.

``spec`` fixes its sizes and file names; ``mllm_teaching``, ``vae_training`` and
``diffusion_training`` train its parts; ``train`` runs them all in one command.
"""
