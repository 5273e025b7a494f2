"""Virtual network device plugins (``DeviceType`` in config).

Each module registers its device types through ``tinca_register_device_types``
and implements :class:`tinca.core.device.Device`.
"""
