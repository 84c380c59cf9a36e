"""What people read: metric tables for the console, plots of runs, and the reports of the paper's tables and figures."""
