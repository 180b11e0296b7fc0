"""`make bench`: each figure printed beside a raw-client baseline doing the same work in the same run."""
