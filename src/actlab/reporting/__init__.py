"""From MLflow runs to reports: the claims report, a challenger's report, the literature table, the gallery."""
