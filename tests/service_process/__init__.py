"""Tests of the service as a process: ``kudos serve`` started, stopped, killed and started again."""
