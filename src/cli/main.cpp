int main() { return 0; }  // placeholder: the CLI owner replaces this
