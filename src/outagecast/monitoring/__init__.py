"""Monitoring of the served model: input and prediction drift, and realised error.

``drift`` holds the pure statistics on frames, ``window`` loads the window of served predictions,
``realised`` the realised error per model version, and ``job`` runs it all (``outagecast monitor``,
the embedded scheduler and the Airflow DAG ``outagecast_monitor``), stores every run in
``monitor_runs`` / ``drift_results`` / ``realised_errors`` and raises alerts.
"""
