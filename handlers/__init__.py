"""The webhook's core: plain functions over typed values, no Flask.

Read the pipeline top-down, one module per step:
signature -> parse -> dedupe -> classify -> consent -> outbox (-> sender).
"""
