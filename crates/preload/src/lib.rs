pub extern "C" fn x(){}
