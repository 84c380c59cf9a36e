"""What people read: metric tables for the console and plots of runs."""
