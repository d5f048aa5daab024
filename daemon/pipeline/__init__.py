"""The pipeline: a folder of songs to a trained, exported adapter with samples, in one job.

job.py (registers `pipeline` and `dataset_scan`)   run.py (the stages in order, child jobs)
stages.py (each stage's inputs and jobs)   record.py (pipeline.json, fingerprints)
training.py (preset and epochs, said out loud)   scan.py (the `dataset_scan` job)
"""
