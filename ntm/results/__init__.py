"""Looking at results: loading runs, pictures, generalisation, sweeps and reports."""
