"""The working-day calendar of China (法定节假日与调休) and working-day deadline arithmetic."""
