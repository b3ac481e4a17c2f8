from launch.cli import entrypoint

entrypoint()
