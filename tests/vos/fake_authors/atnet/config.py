"""Stand-in for ATNet's config.py (test double): the attributes the adapter reads."""


class Config:
    def __init__(self):
        self.test_propagation_proportion = 0.99
        self.test_propth = 0.8
        self.mean, self.var = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
        self.scribble_dilation_param = 5
        self.test_load_state_dir = "ATNet-checkpoint.pth"
