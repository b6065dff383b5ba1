"""移动式设备交接 (§4.5.9): mobile equipment transfer between supervising authorities."""
