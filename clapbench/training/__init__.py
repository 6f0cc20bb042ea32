"""`clapbench train`: contrastive (InfoNCE) training of HF ClapModels, and TeminAL-style temporal post-training.

Modules: ``examples`` (what a training item is, read from a pair list or a registered task), ``augment``
(keyword-to-caption), ``temporal`` (stage A/B items), ``data`` (seeded batches and the DataLoader),
``loss`` (symmetric InfoNCE over the batch gathered from every rank), ``model`` (building or loading the
ClapModel), ``log`` (metrics file, loss curve, progress bar), ``trainer`` (the loop, checkpoints, resume,
evaluation during training).
"""
