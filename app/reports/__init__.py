"""Reports: dashboard figures, exports (CSV, XES) and Prometheus metrics."""
