"""The device and unit registry: the one place every domain reads and changes devices and units through
(services.py), the device profile page (views.py, profile.py), due states (due.py) and design life (life.py)."""
