import './ui/gpu-status';
