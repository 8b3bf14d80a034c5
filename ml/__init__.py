"""FaceCurator's machine-learning library.

Plain PyTorch / faiss / numpy code that never imports Django: the face pipeline, backbones,
losses, training, calibration, metrics, noise scoring and the similarity index. The Celery
tasks in ``webapp/`` load rows, call these functions and store what they return.
"""
