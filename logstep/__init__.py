"""logstep's operator CLI and local sandbox. Never shipped to Lambda."""
