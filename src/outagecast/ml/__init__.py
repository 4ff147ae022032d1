"""The model: feature engineering (``features``), training against the oracle (``train``) and the
served ``Predictor`` with its fast path and contributions (``predict``). See docs/model.md."""
