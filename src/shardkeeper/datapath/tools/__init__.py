"""The MariaDB tools the data path runs as children: started, drained, stopped, given secrets.

``child.py`` spawns and stops them, ``enginelog.py`` drains and redacts their stderr, and
``client_options.py`` writes the 0600 option file that carries a password to them.
"""
