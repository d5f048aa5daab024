"""Audio on the daemon side: decode, resample, channel layout, duration and loudness."""
