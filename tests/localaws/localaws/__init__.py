"""localaws: moto's server extended into a CodeDeploy blue/green and CloudWatch emulator for shipwatch's tests and demo."""
