"""The Docker-free local stack: `python -m local` runs template.yaml's API and queues on
an embedded AWS (moto). LocalStack starts it in-process, for end-to-end tests."""
