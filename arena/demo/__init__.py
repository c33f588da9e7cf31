"""The drift demo: a drone camera changes midway; Arena notices, retrains and recovers."""
