"""Developer launchers behind `make run` and `make test` (no Django import before Redis is ready)."""
