"""Sharding one sweep across workers (local processes, Slurm through submitit, Ray) into one run; see driver.py."""
